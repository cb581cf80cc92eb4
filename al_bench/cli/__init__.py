"""Thin console scripts: compose config, call one package function, print the result."""
