"""The life of a data subject request: intake, verification, deadlines, fulfilment."""
