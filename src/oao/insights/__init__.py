"""Insights: the event log, recommendations, repurchase ("due soon"), demand forecasts and replenishment.

Serving reads precomputed tables and needs nothing beyond the core install; training,
import, export and evaluation need the `oao[insights]` extra (pandas, pyarrow,
implicit, statsforecast, LightGBM, Dask) and import it lazily.
"""
