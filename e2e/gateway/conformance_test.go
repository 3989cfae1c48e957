// Package gateway runs the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance) against the cluster named by
// KUBECONFIG, the way its authors run it: conformance.RunConformance reads
// the suite's own command-line flags (-conformance-profiles,
// -supported-features, -namespace-annotations, -report-output, ...).
//
// e2e/gateway/build compiles this package with `go test -c`; e2e/gateway/run
// passes weft's flags (mesh profiles MESH-HTTP and MESH-GRPC). See README.md.
package gateway

import (
	"flag"
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/gateway-api/pkg/consts"
)

// TestGatewayAPIMesh is upstream's TestConformance under weft's name. It only
// runs when a conformance profile, feature list or single test is named on
// the command line, so a plain `go test ./...` in this module does not touch
// whatever cluster KUBECONFIG happens to point at.
func TestGatewayAPIMesh(t *testing.T) {
	selected := false
	for _, name := range []string{"conformance-profiles", "supported-features", "all-features", "exempt-features", "run-test", "conformance-options-file"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			selected = true
		}
	}
	if !selected {
		t.Skip("no conformance profile, feature or test selected: run it with e2e/gateway/run (see e2e/gateway/README.md)")
	}
	// The suite refuses CRDs whose bundle-version annotation differs from
	// this (e2e/gateway/run installs the matching standard channel).
	t.Logf("Gateway API suite for CRD bundle version %s", consts.BundleVersion)
	conformance.RunConformance(t)
}
