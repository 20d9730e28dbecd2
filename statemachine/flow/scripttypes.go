package flow

// The script tasks: the user's own Python, Node.js and shell code, run by a
// worker as a child process (tasks/scripts), with Kestra's names,
// properties and output protocol.

// scriptUnsupported are the properties of Kestra's script tasks that
// Relay has not: it runs scripts as processes of the worker, never in a
// container, and has no namespace files.
var scriptUnsupported = map[string]string{
	"taskRunner":             "Relay runs scripts as processes of the worker, never in a container or another runner; remove it",
	"containerImage":         "Relay runs scripts as processes of the worker, not in a container image; install what the script needs with `beforeCommands`",
	"container":              "Relay runs scripts as processes of the worker, not in a container; install what the script needs with `beforeCommands`",
	"docker":                 "Relay runs scripts as processes of the worker, not in Docker",
	"dockerOptions":          "Relay runs scripts as processes of the worker, not in Docker",
	"runner":                 "Relay runs scripts as processes of the worker, not in Docker",
	"namespaceFiles":         "namespace files are not supported; give the files in `inputFiles`",
	"outputDirectory":        "use `outputFiles` globs",
	"targetOS":               "scripts run on the worker's own system (Linux)",
	"pythonVersion":          "scripts run with the worker's python3",
	"dependencies":           "install packages with `beforeCommands` (pip install --target .)",
	"dependencyCacheEnabled": "install packages with `beforeCommands` (pip install --target .)",
}

func scriptProps(main *PropDef) []*PropDef {
	return []*PropDef{
		main,
		listOf("beforeCommands", stringSpec, "Commands run first, in the same shell and working directory (`pip install -r requirements.txt --target .`); a failing one stops the task."),
		mapOf("env", stringSpec, "Environment variables of the process, added to the documented minimal set."),
		withDefault(listOf("interpreter", stringSpec, "The shell and its flag that run the commands: the commands, joined by new lines after `set -e`, are its last argument."), []any{"/bin/sh", "-c"}),
		mapOf("inputFiles", stringSpec, "Files written into the working directory before the commands run: a relative name to its content, or to a `relay://` (or `kestra://`) URI of a file in internal storage, which is downloaded."),
		listOf("outputFiles", stringSpec, "Globs (`*.csv`, `out/**`) of files of the working directory uploaded to internal storage after a successful run; the output `outputFiles` maps each name to its URI. A glob that matches no file adds nothing and is no error, as in Kestra."),
		withDefault(boolean("warningOnStdErr", "End in WARNING instead of SUCCESS when the process wrote to standard error (Kestra's default)."), true),
	}
}

func scriptOutputs(extra ...OutputDef) []OutputDef {
	return append([]OutputDef{
		{Name: "exitCode", Kind: KindInt, Description: "Exit status of the process."},
		{Name: "vars", Kind: KindMap, Description: "Values the script printed as `::{\"outputs\": {...}}::` lines."},
		{Name: "outputFiles", Kind: KindMap, Description: "URI in internal storage of each file `outputFiles` matched, by its name relative to the working directory."},
	}, extra...)
}

func scriptTaskTypes() []*TypeDef {
	script := func(lang string) *PropDef {
		return required(str("script", "The "+lang+" source, written to a file in the working directory and run with the interpreter found on the worker's PATH."))
	}
	commands := required(listOf("commands", stringSpec, "Commands run in order in one shell (`set -e`: the first failing one ends the task)."))
	const protocol = " Lines printed as `::{\"outputs\": {...}}::`, `::{\"metrics\": [...]}::` or `::{\"logs\": [...]}::` become outputs, metrics and logs (Kestra's protocol); other lines are logged live, stdout at INFO and stderr at WARN. A non-zero exit fails the attempt with the exit code and the last lines of stderr."
	return []*TypeDef{
		{
			Name: TypePython, Category: CategoryTask,
			Aliases:     kestra("plugin.scripts.python.Script"),
			Description: "Runs a Python script with the worker's `python3` in a fresh working directory." + protocol,
			Props:       scriptProps(script("Python")),
			Outputs:     scriptOutputs(),
			Unsupported: scriptUnsupported,
		},
		{
			Name: TypePythonCmds, Category: CategoryTask,
			Aliases:     kestra("plugin.scripts.python.Commands"),
			Description: "Runs shell commands that call Python (`python main.py`; `python` is `python3` when only that is installed) in a fresh working directory." + protocol,
			Props:       scriptProps(commands),
			Outputs:     scriptOutputs(),
			Unsupported: scriptUnsupported,
		},
		{
			Name: TypeNode, Category: CategoryTask,
			Aliases:     kestra("plugin.scripts.node.Script"),
			Description: "Runs a Node.js script with the worker's `node` in a fresh working directory." + protocol,
			Props:       scriptProps(script("JavaScript")),
			Outputs:     scriptOutputs(),
			Unsupported: scriptUnsupported,
		},
		{
			Name: TypeNodeCmds, Category: CategoryTask,
			Aliases:     kestra("plugin.scripts.node.Commands"),
			Description: "Runs shell commands that call Node.js (`node main.js`, `npm install`) in a fresh working directory." + protocol,
			Props:       scriptProps(commands),
			Outputs:     scriptOutputs(),
			Unsupported: scriptUnsupported,
		},
		{
			Name: TypeShellScript, Category: CategoryTask,
			Aliases:     kestra("plugin.scripts.shell.Script"),
			Description: "Runs a shell script with the interpreter's shell in a fresh working directory." + protocol,
			Props:       scriptProps(script("shell")),
			Outputs:     scriptOutputs(),
			Unsupported: scriptUnsupported,
		},
		{
			Name: TypeShell, Category: CategoryTask,
			Aliases:     kestra("plugin.scripts.shell.Commands"),
			Description: "Runs shell commands in a fresh working directory." + protocol,
			Props:       scriptProps(commands),
			Outputs: scriptOutputs(
				OutputDef{Name: "stdout", Kind: KindString, Description: "Last 64 KiB of standard output (protocol lines left out)."},
				OutputDef{Name: "stderr", Kind: KindString, Description: "Last 64 KiB of standard error (protocol lines left out)."},
			),
			Unsupported: scriptUnsupported,
		},
	}
}
