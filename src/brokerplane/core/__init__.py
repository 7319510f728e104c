"""The business core: every rule of brokerplane, free of web frameworks, SQL and dialects."""
