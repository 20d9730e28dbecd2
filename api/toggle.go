package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/relayflow/relay/engine"
)

// SetTriggerDisabled disables (or enables) a trigger by deploying a new
// revision of its flow whose source says so (`disabled: true` on the
// trigger), so the change is versioned, shows in the revision diff, and
// every part of a deployment reads it as it reads any flow. The rest of
// the source is kept as written. A flow that already says so gets no new
// revision.
func (s *Service) SetTriggerDisabled(ctx context.Context, namespace, flowID, triggerID string, disabled bool) (engine.FlowRecord, error) {
	rec, err := s.Flow(ctx, namespace, flowID, 0)
	if err != nil {
		return rec, err
	}
	src, err := setTriggerDisabled(rec.Source, triggerID, disabled)
	if err != nil {
		return rec, Invalid(fmt.Errorf("flow %s/%s: %w", namespace, flowID, err))
	}
	return s.DeployFlow(ctx, namespace+"/"+flowID+".yaml", src)
}

// setTriggerDisabled edits a flow document's text: the trigger's
// `disabled` value is replaced, or a `disabled: true` line added after
// its id.
func setTriggerDisabled(src []byte, triggerID string, disabled bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("reading the flow: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the flow is not a YAML mapping")
	}
	list := value(doc.Content[0], "triggers")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("no trigger %s", triggerID)
	}
	for _, tr := range list.Content {
		if tr.Kind != yaml.MappingNode {
			continue
		}
		id := value(tr, "id")
		if id == nil || id.Value != triggerID {
			continue
		}
		if tr.Style&yaml.FlowStyle != 0 {
			return nil, fmt.Errorf("trigger %s is written inline ({...}): change its disabled property in the flow", triggerID)
		}
		want := "false"
		if disabled {
			want = "true"
		}
		lines := bytes.SplitAfter(src, []byte("\n"))
		if cur := value(tr, "disabled"); cur != nil {
			if cur.Kind != yaml.ScalarNode || cur.Style != 0 || cur.Line < 1 || cur.Line > len(lines) {
				return nil, fmt.Errorf("trigger %s: its disabled value is not a plain true or false", triggerID)
			}
			if cur.Value == want {
				return src, nil
			}
			line := []rune(string(lines[cur.Line-1]))
			at := cur.Column - 1
			if at+len([]rune(cur.Value)) > len(line) || string(line[at:at+len([]rune(cur.Value))]) != cur.Value {
				return nil, fmt.Errorf("trigger %s: its disabled value is not where the parser says", triggerID)
			}
			lines[cur.Line-1] = []byte(string(line[:at]) + want + string(line[at+len([]rune(cur.Value)):]))
			return bytes.Join(lines, nil), nil
		}
		if !disabled {
			return src, nil // enabled already
		}
		key := key(tr, "id")
		if id.Line != key.Line || id.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return nil, fmt.Errorf("trigger %s: its id does not fit on one line", triggerID)
		}
		nl := ""
		if !bytes.HasSuffix(lines[id.Line-1], []byte("\n")) {
			nl = "\n"
		}
		added := []byte(nl + strings.Repeat(" ", key.Column-1) + "disabled: true\n")
		out := append([][]byte{}, lines[:id.Line]...)
		out = append(out, added)
		out = append(out, lines[id.Line:]...)
		return bytes.Join(out, nil), nil
	}
	return nil, fmt.Errorf("no trigger %s", triggerID)
}

// key and value return a mapping's key node and value node for name, or
// nil.
func key(m *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i]
		}
	}
	return nil
}

func value(m *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i+1]
		}
	}
	return nil
}
