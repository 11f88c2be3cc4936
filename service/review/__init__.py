"""The review desk: the queue of frozen orders, claims, outcomes, and the stock that follows."""
