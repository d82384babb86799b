// SPDX-License-Identifier: MIT
// A C++ program whose leak goes through operator new and std::string: the
// exporter must name Cache::remember, not operator new or libstdc++.
// Prints "ready" and waits for stdin to close. Preloaded, not linked.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace demo
{
class Cache
{
      public:
	__attribute__((noinline)) void remember(unsigned i)
	{
		entries_.push_back(new std::string(2000 + i % 500, 'x'));
	}
	size_t size() const
	{
		return entries_.size();
	}

      private:
	std::vector<std::string *> entries_;
};
} // namespace demo

int main()
{
	demo::Cache cache;

	for (unsigned i = 0; i < 40000; i++)
		cache.remember(i);
	std::printf("entries=%zu\nready\n", cache.size());
	std::fflush(stdout);
	while (std::getchar() != EOF)
		;
	return 0;
}
