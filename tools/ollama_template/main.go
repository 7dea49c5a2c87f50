// Renders an Ollama TEMPLATE with Go's own text/template, the engine Ollama runs, so tests can
// check that personatune's Modelfile TEMPLATE gives the same text as the tokenizer's chat template.
//
// stdin: {"template": "...", "system": "...", "messages": [{"role": "...", "content": "..."}]}
// stdout: the rendered prompt. Like Ollama, the Modelfile SYSTEM becomes the first message when
// the conversation has no system message of its own.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type Values struct {
	Messages []Message
	System   string
	Prompt   string
	Response string
}

func main() {
	var input struct {
		Template string    `json:"template"`
		System   string    `json:"system"`
		Messages []Message `json:"messages"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	tmpl, err := template.New("ollama").Parse(input.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "template does not parse:", err)
		os.Exit(1)
	}
	messages := input.Messages
	if input.System != "" && (len(messages) == 0 || messages[0].Role != "system") {
		messages = append([]Message{{Role: "system", Content: input.System}}, messages...)
	}
	values := Values{Messages: messages, System: input.System}
	if err := tmpl.Execute(os.Stdout, values); err != nil {
		fmt.Fprintln(os.Stderr, "template does not execute:", err)
		os.Exit(1)
	}
}
