"""Models as files: bundles (config.json + safetensors), resolving ``--model``, the zoo catalogue and the
built-in bundles, downloading, importing official checkpoints (format table and converters), and
shipping policies and schedules into bundles. The networks themselves live in ``architectures``."""
