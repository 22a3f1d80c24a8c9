"""An embedded, protocol-faithful Kubernetes API server with a scenario engine."""
