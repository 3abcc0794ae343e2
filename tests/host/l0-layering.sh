#!/bin/bash
# ooh-l0 stays layered: no cycle among its parts, in what the files include
# and in what the objects call. A part is a top-level file's stem (vm.c and
# vm.h are "vm") or a subdirectory (ooh/, x86/, virtio/: a device or the arch
# code, one part each). A cycle means two parts cannot be understood, tested
# or replaced apart (issue 23: there was one of 13 files).
. "$(dirname "$0")/../harness/result.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OBJ=${O:-$TOP/build/normal}/obj/l0

# l0-relative path of a file -> its part
part() {
	case $1 in
	*/*) echo "${1%%/*}" ;;
	*) local b=${1%.*}; echo "$b" ;;
	esac
}

# Reads "from to" edges on stdin; prints nothing if acyclic, else the loop.
find_cycle() {
	tsort 2>&1 >/dev/null | sed -n 's/^tsort: //p' | grep -v 'input contains a loop' | tr '\n' ' '
}

# The detector itself: it must see a planted cycle.
planted=$(printf 'a b\nb c\nc a\nc d\n' | find_cycle)
if [[ $planted == *a* && $planted == *b* && $planted == *c* ]]; then
	ooh_pass l0-layering:detector "finds a planted cycle: $planted"
else
	ooh_fail l0-layering:detector "missed a planted cycle a->b->c->a (got '$planted')"
fi

# Include graph, from the sources.
includes() {
	cd "$TOP/l0" || return
	find . -path ./guest-tools -prune -o -path ./kvmstat -prune -o \
		\( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | while read -r f; do
		dir=$(dirname "$f")
		sed -n 's/^#include "\(.*\)".*/\1/p' "$f" | while read -r inc; do
			target=$(realpath -m --relative-to=. "$dir/$inc")
			[[ $target == ../* ]] && continue # outside l0/ (include/ooh)
			from=$(part "$f") to=$(part "$target")
			[[ $from != "$to" ]] && echo "$from $to"
		done
	done
}
edges=$(includes | sort -u)
nr=$(wc -l <<<"$edges")
cycle=$(find_cycle <<<"$edges")
if [[ $nr -lt 10 ]]; then
	ooh_fail l0-layering:includes "only $nr include edges found: the scan is broken"
elif [[ -z $cycle ]]; then
	ooh_pass l0-layering:includes "$nr edges between parts, no cycle"
else
	ooh_fail l0-layering:includes "cycle among: $cycle"
fi

# Call graph, from the built objects (main.o, the composition root, apart).
if ! ls "$OBJ"/*.o >/dev/null 2>&1; then
	ooh_skip l0-layering:calls "no objects in $OBJ (build first)"
	exit 0
fi
calls() {
	cd "$OBJ" || return
	local objs
	objs=$(ls ./*.o ./*/*.o 2>/dev/null | sed 's|^\./||' | grep -v -e '^main\.o$' -e '^kvmstat/' -e '^tests/' -e '^guests/')
	declare -A owner
	for o in $objs; do
		while read -r sym; do owner[$sym]=$(part "$o"); done < <(nm --defined-only "$o" | awk '$2 ~ /[TDBR]/ {print $3}')
	done
	for o in $objs; do
		from=$(part "$o")
		nm --undefined-only "$o" | awk '{print $2}' | while read -r sym; do
			to=${owner[$sym]:-}
			[[ -n $to && $to != "$from" ]] && echo "$from $to"
		done
	done
}
edges=$(calls | sort -u)
nr=$(wc -l <<<"$edges")
cycle=$(find_cycle <<<"$edges")
if [[ $nr -lt 10 ]]; then
	ooh_fail l0-layering:calls "only $nr call edges found: the scan is broken"
elif [[ -z $cycle ]]; then
	ooh_pass l0-layering:calls "$nr edges between parts, no cycle"
else
	ooh_fail l0-layering:calls "cycle among: $cycle"
fi
