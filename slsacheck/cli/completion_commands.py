"""`slsacheck completion bash|zsh`: a completion script generated from the parser itself,
so every command, subcommand and flag the CLI has is completed, and nothing it lacks.

bash: `source <(slsacheck completion bash)` (or save it under
/etc/bash_completion.d/); zsh: `source <(slsacheck completion zsh)` (it loads bash's
completion through `bashcompinit`). Files complete where a word is not a flag.
"""

from __future__ import annotations

import argparse
import sys

from slsacheck.errors import EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "completion", help="print a shell completion script: slsacheck completion bash|zsh",
        description="Print a completion script for bash or zsh. Load it in the current shell with "
        "`source <(slsacheck completion bash)`, or add that line to ~/.bashrc (~/.zshrc for zsh).")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    p.set_defaults(func=_completion)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return sorted({s for a in parser._actions for s in a.option_strings if s.startswith("--")})


def _table(parser: argparse.ArgumentParser, path: str = "") -> dict[str, list[str]]:
    """Command path ("", "policy", "policy lint") -> the words that may follow it."""
    subs = _subcommands(parser)
    table = {path: sorted(subs) + _flags(parser)}
    for name, child in subs.items():
        table.update(_table(child, f"{path} {name}".strip()))
    return table


def bash_script(parser: argparse.ArgumentParser) -> str:
    table = sorted(_table(parser).items())
    cases = "\n".join(f'        "{path}") words="{" ".join(words)}" ;;' for path, words in table)
    return f"""# bash completion for slsacheck (slsacheck completion bash)
_slsacheck_words() {{
    local words=""
    case "$1" in
{cases}
    esac
    echo " $words "
}}
_slsacheck() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" word i words
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        [[ "$word" == -* ]] && continue
        words="$(_slsacheck_words "$path")"
        [[ "$words" == *" $word "* ]] && path="${{path:+$path }}$word"
    done
    words="$(_slsacheck_words "$path")"
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    if [[ ${{#COMPREPLY[@]}} -eq 0 && "$cur" != -* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}}
complete -o filenames -F _slsacheck slsacheck
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    return "# zsh completion for slsacheck (slsacheck completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n" \
        + bash_script(parser)


def _completion(args: argparse.Namespace) -> int:
    from slsacheck.cli import build_parser  # noqa: PLC0415 - every command module, only here

    parser = build_parser(all_commands=True)
    sys.stdout.write(bash_script(parser) if args.shell == "bash" else zsh_script(parser))
    return EXIT_OK
