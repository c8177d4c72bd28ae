// Argo CD's Lua VM for forescale's health check (manifests/argocd/health.lua); see main.go
// and hack/build-binaries.sh. gopher-lua is the interpreter Argo CD embeds.
module forescale.local/hack/argocd-lua

go 1.26.0

require github.com/yuin/gopher-lua v1.1.2
