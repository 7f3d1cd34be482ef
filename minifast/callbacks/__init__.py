"""The callbacks that ship with minifast, one family per file, each written as a user would."""
