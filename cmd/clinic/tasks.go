package main

// The tasks clinic trains: each registers itself (internal/task), one
// line here each.
import (
	_ "github.com/clinic-ml/clinic/internal/task/lm"
	_ "github.com/clinic-ml/clinic/internal/task/translation"
)
