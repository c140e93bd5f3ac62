"""Simulated SAR amplitude pairs with exact displacement truth."""
