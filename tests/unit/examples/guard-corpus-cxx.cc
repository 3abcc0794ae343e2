// SPDX-License-Identifier: MIT
// ooh-guard-corpus-cxx: a correct C++ program for ooh-guard (run under
// LD_PRELOAD=libooh-guard.so by test-guard.c): new/delete, new[]/delete[],
// aligned new, std::vector, std::string, std::map, std::unordered_map,
// shared_ptr, exceptions, string streams. Prints "EXPECT none", PASS/FAIL
// lines and a checksum; exits 1 after a FAIL.
#include <cstdio>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

static int failures;

static void check(const char *name, bool ok)
{
	std::printf("%s %s\n", ok ? "PASS" : "FAIL", name);
	if (!ok)
		failures++;
}

struct alignas(64) Line {
	unsigned char bytes[64];
};

struct Node {
	explicit Node(int v) : value(v) {}
	int value;
	std::unique_ptr<Node> next;
};

int main()
{
	std::printf("EXPECT none\n");
	std::fflush(stdout);

	int *one = new int(42);
	int *arr = new int[1000]();
	arr[999] = *one;
	check("new-delete", arr[999] == 42 && arr[0] == 0);
	delete one;
	delete[] arr;

	bool aligned = true;
	std::vector<Line *> lines;
	for (int i = 0; i < 100; i++) {
		Line *l = new Line;
		aligned &= reinterpret_cast<std::uintptr_t>(l) % 64 == 0;
		l->bytes[63] = static_cast<unsigned char>(i);
		lines.push_back(l);
	}
	for (Line *l : lines)
		delete l;
	check("aligned-new", aligned);

	std::vector<int> v;
	for (int i = 0; i < 100000; i++)
		v.push_back(i * 7 % 1000);
	long sum = 0;
	for (int x : v)
		sum += x;
	v.resize(10);
	v.shrink_to_fit();
	check("vector", sum == 49950000L && v.size() == 10);

	std::string s;
	for (int i = 0; i < 5000; i++)
		s += std::to_string(i) + ",";
	std::string t = s.substr(100, 2000);
	check("string", s.size() == 23890 && t.size() == 2000);

	std::map<std::string, int> m;
	std::unordered_map<int, std::string> u;
	for (int i = 0; i < 10000; i++) {
		m["key" + std::to_string(i * 31 % 10007)] = i;
		u[i] = std::string(static_cast<size_t>(i % 50), 'x');
	}
	for (int i = 0; i < 10000; i += 2)
		u.erase(i);
	check("map", m.size() == 10000 && m.begin()->first == "key0" && u.size() == 5000);

	std::unique_ptr<Node> head;
	for (int i = 0; i < 1000; i++) {
		auto n = std::make_unique<Node>(i);
		n->next = std::move(head);
		head = std::move(n);
	}
	auto shared = std::make_shared<std::vector<std::string>>(100, "shared");
	auto copy = shared;
	check("smart-pointers", head->value == 999 && copy->at(99) == "shared" && shared.use_count() == 2);
	while (head)
		head = std::move(head->next);

	int caught = 0;
	for (int i = 0; i < 100; i++) {
		try {
			throw std::runtime_error("exception number " + std::to_string(i));
		} catch (const std::exception &e) {
			caught += std::string(e.what()).size() > 17;
		}
	}
	check("exceptions", caught == 100);

	std::ostringstream os;
	for (int i = 0; i < 10000; i++)
		os << i << ' ';
	std::istringstream is(os.str());
	long back = 0;
	for (int x; is >> x;)
		back += x;
	check("streams", back == 49995000L);

	std::printf("END %s\n", failures ? "FAIL" : "ok");
	return failures ? 1 : 0;
}
