# Bundled tracer placeholder.
