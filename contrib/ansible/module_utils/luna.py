# Shared code of the Luna Ansible modules: they drive the luna CLI and read
# objects back with `-o json` (docs/json.md), so the rules stay in luna.
import json

YESNO = "yesno"  # a boolean the CLI takes as y/n


def common_args():
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        luna_bin=dict(type="str", default="luna"),
        comment=dict(type="str"),
    )


COMMENT = [("comment", "--comment")]


def trim_newlines(text):
    """The text as luna stores it: without trailing newlines."""
    while True:
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        else:
            return text


class Luna(object):
    def __init__(self, module):
        self.module = module
        self.bin = module.params.get("luna_bin") or "luna"
        self.commands = []

    def run(self, args, fail=True, data=None):
        """Runs luna with argv args (no shell, no expansion of $ or ~);
        data, when given, is its stdin (what its text options read)."""
        kw = dict(expand_user_and_vars=False)
        if data is not None:
            kw.update(data=data + "\n", binary_data=True)  # never empty: run_command pipes only non-empty data
        rc, out, err = self.module.run_command([self.bin] + args, **kw)
        if rc != 0 and fail:
            self.module.fail_json(msg="luna %s: %s" % (" ".join(args), (err or out).strip()), rc=rc,
                                  commands=self.commands)
        return rc, out, err

    def show(self, kind, name):
        """The object as `luna KIND show NAME --output json` prints it, or None."""
        args = [kind, "show", name, "--output", "json"] if kind != "cluster" else ["cluster", "show", "--output", "json"]
        rc, out, err = self.run(args, fail=False)
        if rc != 0:
            if "does not exist" in err:
                return None
            self.module.fail_json(msg="luna %s: %s" % (" ".join(args), err.strip()), rc=rc)
        return json.loads(out)

    def change(self, args, data=None):
        """Runs a changing command, or only records it in check mode; data
        is its stdin."""
        self.commands.append(" ".join([self.bin] + args) + (" < (text on stdin)" if data is not None else ""))
        if not self.module.check_mode:
            self.run(args, data=data)

    def texts(self, prefix, obj, texts, diff):
        """Sets each text option [(param, flag)] that differs from obj's
        field named param, one `luna ... FLAG` per text, the text on stdin.
        Returns whether any did."""
        changed = False
        for param, flag in texts:
            want = self.module.params.get(param)
            if want is None:
                continue
            want = trim_newlines(want)
            cur = (obj or {}).get(param)
            if ("" if cur is None else cur) == want:
                continue
            self.change(prefix + [flag], data=want)
            diff["before"][param] = cur
            diff["after"][param] = want
            changed = True
        return changed


def as_cli(value, kind):
    if kind == YESNO:
        return "y" if value else "n"
    return str(value)


def same(current, wanted, kind):
    if kind == YESNO:
        return bool(current) == bool(wanted)
    if kind == int:
        try:
            return int(current) == int(wanted)
        except (TypeError, ValueError):
            return False
    return ("" if current is None else str(current)) == str(wanted)


def ensure(module, kind, add, fields, current_of=None, texts=COMMENT, rename=False):
    """Makes object KIND named by module.params['name'] match the module's
    parameters, idempotently and in check mode.

    add: [(param, flag)] for `luna KIND add -n NAME`; a param with no value
    is left out. fields: [(param, json_key, change_flag, type)] compared with
    `show --output json` and set with `luna KIND change NAME FLAG VALUE`
    (type str, int or YESNO). current_of(obj) may rewrite the shown object
    before the comparison. texts: [(param, flag)] text options, compared
    with the field named param and passed to `luna KIND change NAME FLAG`
    on stdin (comment by default). rename: the module takes new_name, the
    object's name afterwards: `luna KIND rename NAME --newname NEW_NAME`
    when NAME exists, nothing when only NEW_NAME does, and NEW_NAME
    created when neither does."""
    p = module.params
    luna = Luna(module)
    name = p["name"]
    obj = luna.show(kind, name)
    diff = dict(before={}, after={})
    new_name = p.get("new_name") if rename else None
    if new_name is not None and new_name != name:
        if p.get("state", "present") == "absent":
            module.fail_json(msg="new_name goes with state present only")
        other = luna.show(kind, new_name)
        if obj is not None and other is not None:
            module.fail_json(msg="Cannot rename %s %s to %s: both exist" % (kind, name, new_name))
        if obj is not None:
            luna.change([kind, "rename", name, "--newname", new_name])
            diff["before"]["name"], diff["after"]["name"] = name, new_name
            renamed = True
        else:
            obj, renamed = other, False
        name = new_name
    else:
        renamed = False
    if obj is not None and current_of:
        obj = current_of(obj)
    if p.get("state", "present") == "absent":
        if obj is not None:
            luna.change([kind, "delete", name])
            diff["before"] = {"name": name}
        module.exit_json(changed=obj is not None, commands=luna.commands, diff=diff)
    created = False
    if obj is None:
        args = [kind, "add", "-n", name]
        for param, flag in add:
            if p.get(param) is not None:
                args += [flag, as_cli(p[param], str)]
        luna.change(args)
        created = True
        diff["after"]["name"] = name
        if not module.check_mode:
            obj = luna.show(kind, name)
            if current_of:
                obj = current_of(obj)
    changes = []
    for param, key, flag, typ in fields:
        want = p.get(param)
        if want is None or flag is None:
            continue
        cur = obj.get(key) if obj is not None else None
        if obj is not None and same(cur, want, typ):
            continue
        if obj is None and any(param == a for a, _ in add):
            continue  # check mode, given to add
        changes += [flag, as_cli(want, typ)]
        diff["before"][key] = cur
        diff["after"][key] = want
    if changes:
        luna.change([kind, "change", name] + changes)
    text_changed = luna.texts([kind, "change", name], obj, texts, diff)
    module.exit_json(changed=renamed or created or bool(changes) or text_changed, commands=luna.commands, diff=diff)
