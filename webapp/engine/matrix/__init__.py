"""Service matrices: which address classes may open a connection to which, as fffuu computes."""
