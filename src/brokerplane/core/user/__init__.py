"""Users: the people (cTID users, TraderEvolution users) who own trading accounts."""
