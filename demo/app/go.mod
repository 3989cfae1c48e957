// The demo's app, also the e2e suites' test app: e2e/cluster/build builds it
// into the image weft/testapp:e2e. Its dependencies are pinned at the versions
// e2e/cluster/go.mod selects (the app was part of that module before).
module weft.dev/demo/app

go 1.24.0

require google.golang.org/grpc v1.75.0

require (
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250818200422-3122310a409c // indirect
	google.golang.org/protobuf v1.36.8 // indirect
)
