//go:build tools

// The wrapper module that pins the promtool test/tools/build-promtool.sh builds: the Prometheus
// release the chart's bundled image runs (github.com/prometheus/prometheus v0.3NN.x is
// Prometheus 3.NN.x; the module's VERSION file says which).
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
