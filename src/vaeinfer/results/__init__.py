"""Result files: per-run netCDF I/O, grid assembly and provenance attributes."""
