"""Frontend: a model file, module or workload name becomes an ``OpGraph``."""
