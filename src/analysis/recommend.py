"""placeholder"""
CRITERIA = ("stability", "validity", "gaming", "fairness", "separation", "data")
