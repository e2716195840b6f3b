"""The construction: (base network, program) -> extension, theta_0, predicted trajectory."""
