"""The domain: leads, the pipeline, queries, dates and the errors users see."""
