"""Neural building blocks (lobes) of CLAP models: front end, encoders, heads."""
