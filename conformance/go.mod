module github.com/chronik-go/chronik/conformance

go 1.26.0

require github.com/chronik-go/chronik/plugins v0.0.0

replace github.com/chronik-go/chronik/plugins => ../plugins
