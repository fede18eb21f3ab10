package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func play(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint of the server")
	token := fs.String("token", "", "bearer token for a server with authentication on, such as one from 'onboarding token' (env ONBOARDING_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: onboarding play [flags] FILE\n\n"+
			"Sends each operation of FILE in order. Operations that declare $projectId\n"+
			"get the id of the project the first operation started.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token = getenv("ONBOARDING_TOKEN")
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("expected one FILE argument, got %d", fs.NArg())
	}
	doc, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if *token != "" {
		client.Transport = bearerTransport{token: *token}
	}
	id, err := Play(ctx, client, *url, fs.Arg(0), string(doc), stdout)
	if id != "" {
		fmt.Fprintf(stdout, "project id: %s\n", id)
	}
	return err
}

// Play sends every operation of doc to url in document order and prints a
// line for each. It returns the id of the project that the first operation
// started, and stops at the first operation that returns errors.
func Play(ctx context.Context, client *http.Client, url, name, doc string, out io.Writer) (string, error) {
	parsed, gqlErr := parser.ParseQuery(&ast.Source{Name: name, Input: doc})
	if gqlErr != nil {
		return "", fmt.Errorf("parse %s: %w", name, gqlErr)
	}
	projectID := ""
	total := len(parsed.Operations)
	for i, op := range parsed.Operations {
		vars := map[string]any{}
		if op.VariableDefinitions.ForName("projectId") != nil {
			if projectID == "" {
				return projectID, fmt.Errorf("operation %s needs $projectId, but no earlier operation started a project", op.Name)
			}
			vars["projectId"] = projectID
		}
		data, err := postGraphQL(ctx, client, url, doc, op.Name, vars)
		if err != nil {
			return projectID, fmt.Errorf("operation %d/%d %s: %w", i+1, total, op.Name, err)
		}
		project := payloadProject(data)
		if projectID == "" && project != nil {
			projectID, _ = project["id"].(string)
		}
		fmt.Fprintf(out, "[%2d/%d] %-36s %s\n", i+1, total, op.Name, summary(project))
	}
	return projectID, nil
}

type graphQLResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func postGraphQL(ctx context.Context, client *http.Client, url, query, operation string, vars map[string]any) (map[string]json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"query": query, "operationName": operation, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res graphQLResponse
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("decode response with HTTP status %s: %w", resp.Status, err)
	}
	if len(res.Errors) > 0 {
		msgs := make([]string, len(res.Errors))
		for i, e := range res.Errors {
			msgs[i] = fmt.Sprintf("%s (%v)", e.Message, e.Extensions["code"])
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return res.Data, nil
}

// payloadProject returns the project of the first field of data: either
// the field itself or its "project" member.
func payloadProject(data map[string]json.RawMessage) map[string]any {
	for _, raw := range data {
		var v map[string]any
		if json.Unmarshal(raw, &v) != nil || v == nil {
			return nil
		}
		if p, ok := v["project"].(map[string]any); ok {
			return p
		}
		if _, ok := v["id"]; ok {
			return v
		}
	}
	return nil
}

func summary(p map[string]any) string {
	if p == nil {
		return ""
	}
	var parts []string
	if v, ok := p["version"].(float64); ok {
		parts = append(parts, fmt.Sprintf("version %d", int(v)))
	}
	if s, ok := p["status"].(string); ok {
		parts = append(parts, strings.ToLower(s))
	}
	if ph, ok := p["currentPhase"].(map[string]any); ok {
		parts = append(parts, fmt.Sprintf("phase %v", ph["id"]))
	}
	if q, ok := p["questionnaire"].(map[string]any); ok {
		parts = append(parts, fmt.Sprintf("questionnaire %v/%v", q["answered"], q["required"]))
	}
	return strings.Join(parts, ", ")
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

// RoundTrip implements http.RoundTripper.
func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
