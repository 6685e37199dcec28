"""Review workflow engine: state tables per application type and one `apply()` (built with issue #4)."""
