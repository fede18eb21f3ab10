package domain

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxAnswerLength is the longest answer value accepted, in bytes.
const MaxAnswerLength = 4096

// NormalizeAnswer validates value against the question's kind and returns
// its canonical form:
//
//   - TEXT, SECRET: any non-empty text of at most MaxAnswerLength bytes,
//     with surrounding white space removed;
//   - BOOLEAN, CONFIRMATION: "true" or "false" (also accepted, in any case:
//     yes/no, ja/nej);
//   - CHOICE: the id of one of the question's options, such as "ORDER";
//   - SYSTEM: the id of one of the project's connected systems (its name is
//     also accepted, in any case);
//   - NUMBER: a decimal number such as "3001" or "12.5".
func NormalizeAnswer(q *Question, value string, systems []System) (string, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", invalid("value", "answer to %q is empty; send %s", q.ID, formHint(q, systems))
	}
	if len(v) > MaxAnswerLength || !utf8.ValidString(v) {
		return "", invalid("value", "answer to %q must be valid UTF-8 of at most %d bytes", q.ID, MaxAnswerLength)
	}
	switch q.Kind {
	case KindBoolean, KindConfirmation:
		return normalizeBoolean(q, v)
	case KindChoice:
		return normalizeChoice(q, v)
	case KindSystem:
		return normalizeSystem(q, v, systems)
	case KindNumber:
		return normalizeNumber(q, v)
	default:
		return v, nil
	}
}

// formHint describes the canonical form of an answer to q.
func formHint(q *Question, systems []System) string {
	switch q.Kind {
	case KindBoolean, KindConfirmation:
		return `"true" or "false"`
	case KindChoice:
		ids := make([]string, len(q.Options))
		for i, o := range q.Options {
			ids[i] = o.ID
		}
		return "one of " + strings.Join(ids, ", ")
	case KindSystem:
		ids := make([]string, len(systems))
		for i, s := range systems {
			ids[i] = s.ID
		}
		return "the id of a connected system: one of " + strings.Join(ids, ", ")
	case KindNumber:
		return "a decimal number such as 3001, -5 or 12.5"
	default:
		return "a non-empty text"
	}
}

func normalizeBoolean(q *Question, v string) (string, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "ja":
		return "true", nil
	case "false", "no", "nej":
		return "false", nil
	}
	return "", invalid("value", "answer %q to %s question %q is not a boolean; send \"true\" or \"false\"", v, q.Kind, q.ID)
}

func normalizeChoice(q *Question, v string) (string, error) {
	ids := make([]string, len(q.Options))
	for i, o := range q.Options {
		if strings.EqualFold(o.ID, v) {
			return o.ID, nil
		}
		ids[i] = o.ID
	}
	return "", invalid("value", "answer %q to question %q is not one of its options; send one of %s", v, q.ID, strings.Join(ids, ", "))
}

func normalizeSystem(q *Question, v string, systems []System) (string, error) {
	names := make([]string, len(systems))
	for i, s := range systems {
		if strings.EqualFold(s.ID, v) || strings.EqualFold(s.Name, v) {
			return s.ID, nil
		}
		names[i] = s.ID
	}
	return "", invalid("value", "answer %q to question %q is not a connected system of this project; send one of %s", v, q.ID, strings.Join(names, ", "))
}

// decimalPattern matches a decimal number with a point or a comma (the
// Swedish decimal separator) and no exponent.
var decimalPattern = regexp.MustCompile(`^([+-]?)([0-9]+)(?:[.,]([0-9]+))?$`)

// normalizeNumber returns the canonical form of a decimal number: no plus
// sign, no leading zeros, a point as separator and no trailing zeros after
// it. It works on the digits, so no value loses precision.
func normalizeNumber(q *Question, v string) (string, error) {
	m := decimalPattern.FindStringSubmatch(v)
	if m == nil {
		return "", invalid("value", "answer %q to question %q is not a decimal number; send digits with an optional sign and decimal point or comma, such as 3001, -5 or 12.5", v, q.ID)
	}
	whole := strings.TrimLeft(m[2], "0")
	if whole == "" {
		whole = "0"
	}
	n := whole
	if frac := strings.TrimRight(m[3], "0"); frac != "" {
		n += "." + frac
	}
	if m[1] == "-" && n != "0" {
		n = "-" + n
	}
	return n, nil
}
