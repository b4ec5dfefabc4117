"""Analytics: metrics, calendars, forecasts and reports over stored visits; pure functions + queries.

Must not touch video or signatures.
"""
