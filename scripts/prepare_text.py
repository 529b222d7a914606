#!/usr/bin/env python3
"""Prepares the fixed text splits of docs/data.md from the raw sources (standard library only).

    prepare_text.py wiki RAW OUT_TRAIN OUT_EVAL   exllamav2's wiki.utf8: <doc ...> ... </doc> documents;
                                                   the first 80% of documents (in file order) -> train,
                                                   the rest -> eval; tags dropped, documents separated
                                                   by one blank line
    prepare_text.py copy RAW OUT                    a file as is (c4.utf8, tiny.utf8), newline-terminated
    prepare_text.py bible RAW OUT_TRAIN OUT_EVAL   `bible -f Gen1:1-Rev22:21` output: verse references
                                                   dropped; Old Testament (Genesis..Malachi) -> train,
                                                   New Testament (Matthew..Revelation) -> eval
    prepare_text.py austen DIR OUT_TRAIN OUT_EVAL  novels from extract_austen.py: Sense and Sensibility,
                                                   Pride and Prejudice, Mansfield Park, Emma, Northanger
                                                   Abbey -> train (in that order, one blank line between),
                                                   Persuasion -> eval; lines as printed
"""
import re
import sys


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def wiki(raw, out_train, out_eval):
    text = open(raw, encoding="utf-8").read()
    docs = [d.strip() for d in re.findall(r"<doc [^>]*>\n(.*?)</doc>", text, flags=re.S)]
    if len(docs) < 10:
        sys.exit(f"prepare_text.py: {raw}: only {len(docs)} <doc> documents found")
    cut = len(docs) * 8 // 10
    write(out_train, "\n\n".join(docs[:cut]))
    write(out_eval, "\n\n".join(docs[cut:]))
    print(f"wiki: {len(docs)} documents, {cut} train, {len(docs) - cut} eval")


def copy(raw, out):
    write(out, open(raw, encoding="utf-8").read())


def bible(raw, out_train, out_eval):
    train, evals, seen_nt = [], [], False
    for line in open(raw, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        m = re.match(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$", line)
        if not m:
            sys.exit(f"prepare_text.py: {raw}: unexpected line {line[:60]!r}")
        book, verse = m.group(1), m.group(4)
        if book.startswith("Mat"):
            seen_nt = True
        (evals if seen_nt else train).append(verse)
    if len(train) < 20000 or len(evals) < 7000:
        sys.exit(f"prepare_text.py: {raw}: {len(train)} + {len(evals)} verses, expected the whole KJV (31102)")
    write(out_train, "\n".join(train))
    write(out_eval, "\n".join(evals))
    print(f"bible: {len(train)} verses train (OT), {len(evals)} eval (NT)")


def austen(raw_dir, out_train, out_eval):
    import os
    train = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey"]
    read = lambda n: open(os.path.join(raw_dir, n + ".txt"), encoding="utf-8").read().strip("\n")
    write(out_train, "\n\n".join(read(n) for n in train))
    write(out_eval, read("persuasion"))
    print(f"austen: {len(train)} novels train, Persuasion eval")


if __name__ == "__main__":
    cmds = {"wiki": (wiki, 3), "copy": (copy, 2), "bible": (bible, 3), "austen": (austen, 3)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    cmds[sys.argv[1]][0](*sys.argv[2:])
