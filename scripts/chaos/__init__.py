"""The reliability suite (`make chaos`, issue 23): random fault schedules over the local stack, workers killed and
restarted, invariants checked after every round, and a report (docs/reliability.md). See docs/reliability.md."""
