"""The claim service layer: every change to a claim, and the read side apart."""
