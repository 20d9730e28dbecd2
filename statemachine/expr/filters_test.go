package expr

import (
	"reflect"
	"testing"
)

func TestFilters(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		// strings
		{"{{ inputs.name | upper }} {{ inputs.name | lower }}", "RELAY relay"},
		{"{{ 'élan' | upper }} {{ 42 | upper }} {{ null | upper }}|", "ÉLAN 42 |"},
		{"{{ 'hello world' | capitalize }} {{ 'hELLO' | capitalize }} {{ '' | capitalize }}|", "Hello world HELLO |"},
		{"{{ 'hello  big\tworld' | title }}", "Hello  Big\tWorld"},
		{"{{ '  x \n' | trim }}", "x"},
		{"{{ 'a-b-c' | replace('-', '_') }} {{ 'aaa' | replace('a', 'bb') }}", "a_b_c bbbbbb"},
		{"{{ 'v1.2' | replace({'v': '', '.': '-'}) }}", "1-2"},
		{"{{ 'a1b22' | replace('[0-9]+', '#', regexp=true) }} {{ 'john smith' | replace('(\\w+) (\\w+)', '$2 $1', regexp=true) }}", "a#b# smith john"},
		{"{{ 'a.b' | replace({'.': '-'}, regexp=false) }} {{ 'abc' | replace('', 'x') }}", "a-b abc"},
		{"{{ 'a,b,c' | split(',') }} {{ 'a,b,,' | split(',') }} {{ 'a,b,c' | split(',', 2) }}", `["a","b","c"] ["a","b"] ["a","b,c"]`},
		{"{{ '' | split(',') }} {{ 'abc' | split('') }} {{ 'a.b' | split('.') }} {{ ',,' | split(',') }}", `[""] ["a","b","c"] ["a","b"] []`},
		{"{{ 'a,b,,' | split(',', -1) }} {{ 'a,b,,' | split(delimiter=',', limit=-1) }}", `["a","b","",""] ["a","b","",""]`},
		{"{{ inputs.items | join }} {{ inputs.items | join(', ') }} {{ [1, null, 2.5, [1]] | join('|') }}", "ab a, b 1||2.5|[1]"},
		{"{{ inputs.name | startsWith('Re') }} {{ inputs.name | startsWith('x') }} {{ inputs.name | endsWith('lay') }}", "true false true"},
		{"{{ 'Héllo Wörld! Ça va? 2024' | slugify }} {{ '--a__b--' | slugify }} {{ 'Straße' | slugify }}", "hello-world-ca-va-2024 a-b strasse"},
		{"{{ 'Hello Relay' | abbreviate(8) }} {{ 'short' | abbreviate(10) }} {{ 'abcdef' | abbreviate(3) }} {{ 'abcdef' | abbreviate(6) }}", "Hello... short abc abcdef"},
		{"{{ 'file.tar.gz' | substringBefore('.') }} {{ 'file.tar.gz' | substringBeforeLast('.') }} {{ 'nodot' | substringBefore('.') }}", "file file.tar nodot"},
		{"{{ 'file.tar.gz' | substringAfter('.') }} {{ 'file.tar.gz' | substringAfterLast('.') }} {{ 'nodot' | substringAfter('.') }}|", "tar.gz gz |"},
		{"{{ 'a b&c/é' | urlencode }} {{ 'a+b%26c%2F%C3%A9' | urldecode }} {{ '*-._~' | urlencode }}", "a+b%26c%2F%C3%A9 a b&c/é *-._%7E"},
		{"{{ 'Relay' | base64encode }} {{ 'UmVsYXk=' | base64decode }} {{ 'UmVsYXk' | base64decode }}", "UmVsYXk= Relay Relay"},
		{"{{ 'relay' | sha256 }}", "682fbae20f3428bcec4c117c57bea18d438c4758d972909b41dbe22884e0d6b8"},
		{"{{ '' | md5 }} {{ 'abc' | sha1 }}", "d41d8cd98f00b204e9800998ecf8427e a9993e364706816aba3e25717850c26c9cd0d89d"},
		// lengths and collections
		{"{{ 'héllo' | length }} {{ [1, 2] | length }} {{ {'a': 1} | length }} {{ null | length }}", "5 2 1 0"},
		{"{{ inputs.items | first }} {{ inputs.items | last }} {{ 'xyz' | first }} {{ 'xyz' | last }} {{ [] | first }}|", "a b x z |"},
		{"{{ {'b': 1, 'a': 2} | keys }} {{ {'b': 1, 'a': 2} | values }} {{ inputs.labels | keys }}", `["a","b"] [2,1] ["env","team"]`},
		{"{{ 'abc' | list }} {{ {'b': 1, 'a': 2} | list }} {{ [1] | list }} {{ null | list }}", `["a","b","c"] ["a","b"] [1] []`},
		{"{{ [3, 1, 2] | sort }} {{ ['b', 'a'] | sort }} {{ [2.5, 1, 2] | sort }} {{ inputs.nums | sort }}", `[1,2,3] ["a","b"] [1,2,2.5] [1,2,3]`},
		{"{{ [1, 2, 3] | reverse }} {{ 'abc' | reverse }} {{ inputs.items | reverse }}", `[3,2,1] cba ["b","a"]`},
		{"{{ [1, 2, 1, 3, 1.0, '1'] | unique }} {{ [{'a': 1}, {'a': 1}] | unique }}", `[1,2,3,"1"] [{"a":1}]`},
		{"{{ [1, 2, 3, 4] | slice(1, 3) }} {{ [1, 2, 3] | slice(1) }} {{ [1, 2, 3] | slice(-2) }} {{ [1, 2] | slice(5, 9) }} {{ [1, 2, 3] | slice(2, 1) }}", "[2,3] [2,3] [2,3] [] []"},
		{"{{ 'Relay' | slice(0, 3) }} {{ 'héllo' | slice(1, 2) }} {{ 'abc' | slice(toIndex=2) }}", "Rel é ab"},
		// numbers
		{"{{ '42' | number }} {{ '2.5' | number }} {{ ' 7 ' | number + 1 }} {{ 3 | number }}", "42 2.5 8 3"},
		{"{{ '2.9' | number('INT') }} {{ '2' | number('DOUBLE') }} {{ '2' | number(type='FLOAT') + 0.5 }} {{ '-3' | number('long') }}", "2 2 2.5 -3"},
		{"{{ -3 | abs }} {{ -2.5 | abs }} {{ 4 | abs }}", "3 2.5 4"},
		{"{{ 2.5 | round }} {{ -2.5 | round }} {{ 2.4 | round }} {{ 3.14159 | round(2) }} {{ 1234.5 | round(-2) }} {{ 7 | round }}", "3 -3 2 3.14 1200 7"},
		// serialization
		{"{{ inputs | json }}", `{"day":"2024-02-28","empty":"","epoch":1706695200,"f":2.5,"f32":0.5,"flag":true,"i32":-4,"items":["a","b"],"jflt":1.25,"jint":12,"labels":{"env":"prod","team":"data"},"n":3,"name":"Relay","nil":null,"no":"false","nums":[3,1,2],"pt":"{1 2}","ptr":"2024-01-31T10:00:00Z","rows":[{"id":1},{"id":2}],"u8":200,"when":"2024-03-15T08:30:00+02:00"}`},
		{"{{ 'a\"b' | toJson }} {{ 1.5 | toJson }} {{ null | toJson }} {{ now() | toJson }}", `"a\"b" 1.5 null "2024-01-31T10:00:00Z"`},
		{"{{ 12 | string }} {{ [1] | string }} {{ null | string }}|", "12 [1] |"},
		// default
		{"{{ inputs.missing | default('x') }} {{ inputs.nil | default('x') }} {{ inputs.empty | default('x') }}", "x x x"},
		{"{{ inputs.n | default('x') }} {{ 0 | default('x') }} {{ false | default('x') }} {{ [] | default('x') }}", "3 0 false []"},
		{"{{ missing.deep.path | default('d') }} {{ inputs.items[7] | default('d') }} {{ inputs.missing | default(inputs.name) }}", "d d Relay"},
		// functions
		{"{{ now() }} {{ uuid() }} {{ secret('TOKEN') }}", "2024-01-31T10:00:00Z uuid-1 secret-TOKEN"},
		{"{{ range(0, 3) }} {{ range(3, 0) }} {{ range(0, 10, 5) }} {{ range(5, -5, -5) }} {{ range(start=1, end=2) }}", "[0,1,2,3] [] [0,5,10] [5,0,-5] [1,2]"},
		{"{{ fromJson('[1, 2.0, 1e2, \"x\", {\"a\": null}]') }} {{ fromJson(null) }}|", `[1,2,100,"x",{"a":null}] |`},
		{"{{ json('{\"a\": {\"b\": true}}').a.b }}", "true"},
		{"{{ max(1, 5, 3) }} {{ min(1, 5, 3) }} {{ max([2, 9.5]) }} {{ min('b', 'a') }} {{ max(7) }}", "5 1 9.5 a 7"},
	})
}

func TestFilterErrors(t *testing.T) {
	runEvalErrors(t, testEnv(), []errCase{
		{"{{ 'abc' | number }}", "filter `number` on `'abc'`: \"abc\" is not a number"},
		{"{{ '1' | number('BIG') }}", "unknown number type \"BIG\""},
		{"{{ true | number }}", "cannot convert a boolean to a number"},
		{"{{ 'x' | abs }}", "expected a number, got string"},
		{"{{ 'x' | round }}", "expected a number, got string"},
		{"{{ 5 | join }}", "expected a list, got integer"},
		{"{{ 'x' | keys }}", "expected a map, got string"},
		{"{{ 5 | length }}", "expected a string, list or map, got integer"},
		{"{{ [1, 'a'] | sort }}", "cannot compare"},
		{"{{ '!!' | base64decode }}", "invalid base64"},
		{"{{ '%zz' | urldecode }}", "invalid URL encoding"},
		{"{{ 'a' | replace('(', 'x', regexp=true) }}", "invalid regexp"},
		{"{{ 'a' | replace({'a': 'b'}, 'c') }}", "give either a map of replacements or a search and a replacement string"},
		{"{{ 'a' | replace(1, 'c') }}", "argument `search` must be a string or a map, got integer"},
		{"{{ 'a' | split(1) }}", "argument `delimiter` must be a string, got integer"},
		{"{{ 'abc' | abbreviate('x') }}", "argument `length` must be an integer, got string"},
		{"{{ 'abc' | abbreviate(-1) }}", "length must not be negative"},
		{"{{ fromJson('{') }}", "function `fromJson`: invalid JSON"},
		{"{{ fromJson('1 2') }}", "unexpected data after JSON value"},
		{"{{ fromJson(1) }}", "expected a JSON string, got integer"},
		{"{{ secret(1) }}", "secret name must be a string, got integer"},
		{"{{ max([]) }}", "no values"},
		{"{{ max(1, 'a') }}", "cannot compare string with integer"},
		{"{{ range(0, 1, 0) }}", "range step must not be zero"},
		{"{{ range('a', 1) }}", "range bounds must be integers"},
	})
}

func TestTypedFilterResults(t *testing.T) {
	cases := []struct {
		src  string
		want any
	}{
		{"{{ '42' | number }}", int64(42)},
		{"{{ '4.5' | number }}", 4.5},
		{"{{ 2.5 | round }}", int64(3)},
		{"{{ 2.25 | round(1) }}", 2.3},
		{"{{ 'a,b' | split(',') }}", []any{"a", "b"}},
		{"{{ inputs.name | length }}", int64(5)},
		{"{{ inputs.name | startsWith('R') }}", true},
		{"{{ now() | dateAdd(1, 'HOURS') }}", "2024-01-31T11:00:00Z"},
		{"{{ now() | timestamp }}", int64(1706695200)},
	}
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		got, err := tpl.Render(testEnv())
		if err != nil {
			t.Errorf("Render(%q): %v", c.src, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Render(%q) = %#v, want %#v", c.src, got, c.want)
		}
	}
}
