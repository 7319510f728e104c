"""What every repository's SQL shares: the mask and reach conditions (one owner) and rows."""
