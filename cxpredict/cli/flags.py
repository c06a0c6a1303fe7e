"""Yes/no options that read the same on every command: `--log-json`, `--log-json true` and `--log-json=yes` turn
it on; `--log-json false` (or no, off, 0) leaves it off. Click's flags take no value, so without this the word
after a flag is read as the next argument ("No such command 'true'")."""

from __future__ import annotations

import sys

from typer.core import TyperGroup

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def _context(command):
    return type(command).context_class(command)  # typer carries its own copy of click: use its Context


def _options(command) -> dict:
    """Every option name of `command` (help included) -> its option."""
    names = {}
    help_option = command.get_help_option(_context(command))
    for param in [*command.params, *([help_option] if help_option else [])]:
        if param.param_type_name == "option":
            names.update({name: param for name in (*param.opts, *param.secondary_opts)})
    return names


def _as_flag(option, name: str, word: str) -> list[str] | None:
    """The tokens that say `name word` to a flag, or None when `word` is not a yes/no word."""
    word = word.strip().lower()
    if word in TRUE_WORDS:
        return [name]
    if word not in FALSE_WORDS:
        return None
    if name in option.secondary_opts:  # --no-x false: x stays on
        return [option.opts[0]]
    if option.secondary_opts:
        return [option.secondary_opts[0]]
    return [] if not option.default else [name]  # off is the default: say nothing


def flag_words(root, args: list[str]) -> list[str]:
    """`args` with every `--flag WORD` / `--flag=WORD` (WORD a yes/no word) written the way click reads flags."""
    out: list[str] = []
    command, options = root, _options(root)
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return out + args[i:]
        name, eq, word = token.partition("=")
        option = options.get(name) if token.startswith("-") else None
        if option is not None and option.is_flag:
            written = _as_flag(option, name, word) if eq else (
                _as_flag(option, name, args[i + 1]) if i + 1 < len(args) else None)
            if written is None:
                out.append(token)
            else:
                out += written
                i += 0 if eq else 1
        elif option is not None and not eq:  # an option that takes a value: its value is not a command or flag
            out += args[i:i + 2]
            i += 1
        else:
            out.append(token)
            sub = getattr(command, "commands", {}).get(token)
            if sub is not None:
                command, options = sub, _options(sub)
        i += 1
    return out


class FlagWordsGroup(TyperGroup):
    """The root command: reads yes/no words after flags, and shows no '<bool>' beside any flag (--help included),
    so the help does not invite a value a flag cannot take."""

    def main(self, args=None, *rest, **options):
        for command in _walk(self):
            help_option = command.get_help_option(_context(command))
            if help_option is not None:
                help_option.metavar = ""
        words = list(sys.argv[1:] if args is None else args)
        return super().main(flag_words(self, words), *rest, **options)


def _walk(command):
    stack = [command]
    while stack:
        command = stack.pop()
        yield command
        stack += list(getattr(command, "commands", {}).values())
