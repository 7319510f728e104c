"""Access: managers, their rights and reach, and the native API keys they hold."""
