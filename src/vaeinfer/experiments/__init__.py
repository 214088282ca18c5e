"""Experiment glue: the steps the workflow's rules call, one function per rule."""
