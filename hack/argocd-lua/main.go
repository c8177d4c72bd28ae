// Command argocd-lua runs an Argo CD resource health script the way Argo CD's application
// controller runs a custom one from argocd-cm, so forescale's tests judge health.lua
// against the environment it will meet, not a friendlier one.
//
// What Argo CD does (argo-cd util/lua, read for these facts): the script runs in
// gopher-lua with the standard libraries off unless the customization sets useOpenLibs;
// only the package, base and table libraries are opened, and an os module offering just
// time and date can be required ("os" is not a global; os.date is not offered here, so a
// script that needs it fails here first). `obj` is the live object decoded
// from JSON (integers and floats both become Lua numbers, null becomes nil). The script
// must return a table within one second; its status must be one of Argo CD's health
// codes, otherwise the resource shows Unknown with "Lua returned an invalid health
// status".
//
// Usage: argocd-lua [-open-libs] SCRIPT < objects.jsonl
// One JSON object per input line; one JSON line out per object: {"status", "message"} or
// {"error"}.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

const invalidHealthStatus = "Lua returned an invalid health status"

var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	openLibs := flag.Bool("open-libs", false, "run as a customization with useOpenLibs: true")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua [-open-libs] SCRIPT < objects.jsonl")
		os.Exit(2)
	}
	script, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		if len(bytes.TrimSpace(in.Bytes())) == 0 {
			continue
		}
		status, message, err := health(in.Bytes(), string(script), *openLibs)
		line := result{Status: status, Message: message}
		if err != nil {
			line = result{Error: err.Error()}
		}
		if err := out.Encode(line); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func health(object []byte, script string, openLibs bool) (string, string, error) {
	decoder := json.NewDecoder(bytes.NewReader(object))
	decoder.UseNumber()
	var value map[string]any
	if err := decoder.Decode(&value); err != nil {
		return "", "", fmt.Errorf("object: %w", err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer L.Close()
	for _, library := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		err := L.CallByParam(lua.P{Fn: L.NewFunction(library.open), Protect: true}, lua.LString(library.name))
		if err != nil {
			return "", "", err
		}
	}
	L.PreloadModule(lua.OsLibName, func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{"time": osTime}))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("actionParams", L.CreateTable(0, 0)) // a resource action's parameters: none here
	L.SetGlobal("obj", toLua(L, value))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	returned, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", L.Get(-1).Type())
	}
	status, err := field(returned, "status")
	if err != nil {
		return "", "", err
	}
	message, err := field(returned, "message")
	if err != nil {
		return "", "", err
	}
	if !healthCodes[status] {
		return "Unknown", invalidHealthStatus, nil
	}
	return status, message, nil
}

// field reads a string field of the returned table as Argo CD's JSON round trip into its
// HealthStatus does: absent is empty, anything but a string is an error.
func field(table *lua.LTable, name string) (string, error) {
	switch value := table.RawGetString(name).(type) {
	case *lua.LNilType:
		return "", nil
	case lua.LString:
		return string(value), nil
	default:
		return "", errors.New("health." + name + " is a " + value.Type().String() + ", not a string")
	}
}

func toLua(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return lua.LNumber(n)
		}
		f, _ := v.Float64()
		return lua.LNumber(f)
	case []any:
		table := L.CreateTable(len(v), 0)
		for _, item := range v {
			table.Append(toLua(L, item))
		}
		return table
	case map[string]any:
		table := L.CreateTable(0, len(v))
		for key, item := range v {
			table.RawSetH(lua.LString(key), toLua(L, item))
		}
		return table
	}
	return lua.LNil
}

func osTime(L *lua.LState) int {
	L.Push(lua.LNumber(time.Now().Unix()))
	return 1
}
