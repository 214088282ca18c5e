"""Figures and tables; they read result grids only and never recompute."""
