"""Ready-made model builders used by the CLI: mlp, cnn, charlm (lstm/transformer), gan."""
