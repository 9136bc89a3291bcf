"""Scheduled leadership reports (daily and weekly summaries); work in progress."""
