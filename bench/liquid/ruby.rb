# Shopify Liquid (Debian ruby-liquid) side of rivulet's Liquid benchmark.
#   ruby bench/liquid/ruby.rb BENCH_DIR OUT_DIR
# Prints one JSON line: ops/s per workload and measure, plus VmHWM. Writes each
# workload's rendered output to OUT_DIR/ruby-<workload>.out. BENCH_SECONDS (default 1)
# is the time spent on each measure (5 samples, median reported).
require "json"
require "liquid"

bench_dir, out_dir = ARGV
abort "usage: ruby.rb BENCH_DIR OUT_DIR" unless bench_dir && out_dir
SECONDS = Float(ENV.fetch("BENCH_SECONDS", "1"))
WORKLOADS = ENV.fetch("BENCH_WORKLOADS", "studio theme").split

# LocalFileSystem with the "%s.liquid" pattern, but also accepting '-' in names:
# Liquid's own name check (\A[^./][a-zA-Z0-9_/]+\z) rejects 'product-card'.
class BenchFileSystem < Liquid::LocalFileSystem
  def full_path(template_path)
    unless %r{\A[^./][a-zA-Z0-9_/-]*\z}.match?(template_path)
      raise Liquid::FileSystemError, "Illegal template name '#{template_path}'"
    end
    File.join(root, format(@pattern, template_path))
  end
end

# Process CPU time, as the other two engines measure it (see bench/README.md).
def clock
  Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
end

# ops/s of the block: warm up, size a batch to SECONDS/5, take the median of 5 batches.
def measure
  sample = SECONDS / 5.0
  t0 = clock
  n = 0
  while n < 3 || clock - t0 < [0.2, sample].min
    yield
    n += 1
  end
  per_op = (clock - t0) / n
  batch = [(sample / per_op).round, 1].max
  rates = Array.new(5) do
    t = clock
    batch.times { yield }
    batch / (clock - t)
  end
  rates.sort[2]
end

result = { "engine" => "ruby", "version" => "liquid #{Liquid::VERSION}, ruby #{RUBY_VERSION}" }
WORKLOADS.each do |w|
  dir = File.join(bench_dir, w)
  tdir = File.join(dir, "templates")
  data = JSON.parse(File.read(File.join(dir, "data.json")))
  src = File.read(File.join(tdir, "index.liquid"))
  Liquid::Template.file_system = BenchFileSystem.new(tdir, "%s.liquid")

  template = Liquid::Template.parse(src)
  File.binwrite(File.join(out_dir, "ruby-#{w}.out"), template.render!(data))

  result["#{w}_parse"] = measure { Liquid::Template.parse(src) }
  result["#{w}_render"] = measure { template.render!(data) }
  result["#{w}_parse_render"] = measure { Liquid::Template.parse(src).render!(data) }
end
status = File.read("/proc/self/status") rescue ""
result["vmhwm_kb"] = status[/VmHWM:\s+(\d+)/, 1].to_i
puts JSON.generate(result)
