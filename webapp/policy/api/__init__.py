"""REST API of intent versions."""
