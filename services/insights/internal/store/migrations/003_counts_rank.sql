-- Each bucket's counters by count, so a top list reads each bucket's leaders instead of
-- summing every key of the range (store.Top: candidates from the leaders, exact sums for
-- them, and a bound that proves no other key can be in the list).
CREATE INDEX insights_counts_rank ON insights_counts (dim, grain, bucket, n DESC);
