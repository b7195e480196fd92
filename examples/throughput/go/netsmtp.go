// Go's net/smtp, driven as examples/throughput.rs drives every client: the same messages,
// the same cases, the first message on a reused connection untimed. Built and run by the
// benchmark; standard library only.
//
// It prints one line: sent=N elapsed_ns=T cpu_ns=C, for the timed messages only (CPU is the
// process's user and system time, every thread).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"syscall"
	"time"
)

const (
	from = "bench@localhost"
	to   = "sink@localhost"
)

func main() {
	addr := flag.String("addr", "", "the server, host:port")
	host := flag.String("host", "127.0.0.1", "the name the certificate is checked for")
	mode := flag.String("mode", "plain", "plain, or tls (implicit TLS, needs -ca)")
	caFile := flag.String("ca", "", "the CA certificate (DER) to trust with -mode tls")
	shape := flag.String("shape", "reused", "reused, conn (a connection per message) or builder")
	messageFile := flag.String("message", "", "the message, or (builder) the attachment")
	count := flag.Int("count", 1, "messages to time")
	budget := flag.Float64("budget", 5, "seconds after which the loop stops early")
	flag.Parse()
	if (*mode == "tls") != (*caFile != "") || (*mode != "tls" && *mode != "plain") {
		fmt.Fprintln(os.Stderr, "netsmtp: -mode plain, or -mode tls with -ca")
		os.Exit(2)
	}
	if err := run(*addr, *host, *caFile, *shape, *messageFile, *count, *budget); err != nil {
		fmt.Fprintln(os.Stderr, "netsmtp:", err)
		os.Exit(1)
	}
}

func run(addr, host, caFile, shape, messageFile string, count int, budget float64) error {
	content, err := os.ReadFile(messageFile)
	if err != nil {
		return err
	}
	var config *tls.Config
	if caFile != "" {
		der, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		config = &tls.Config{RootCAs: roots, ServerName: host}
	}
	dial := func() (*smtp.Client, error) {
		var conn net.Conn
		var err error
		if config == nil {
			conn, err = net.Dial("tcp", addr)
		} else {
			conn, err = tls.Dial("tcp", addr, config)
		}
		if err != nil {
			return nil, err
		}
		client, err := smtp.NewClient(conn, host)
		if err != nil {
			return nil, err
		}
		return client, client.Hello("localhost")
	}
	message := func() []byte {
		if shape == "builder" {
			return build(content)
		}
		return content
	}
	limit := time.Duration(budget * float64(time.Second))

	if shape == "conn" {
		start, cpu := time.Now(), cpuTime()
		sent := 0
		for sent < count && time.Since(start) < limit {
			client, err := dial()
			if err != nil {
				return err
			}
			if err := send(client, message()); err != nil {
				return err
			}
			if err := client.Quit(); err != nil {
				return err
			}
			sent++
		}
		report(sent, time.Since(start), cpuTime()-cpu)
		return nil
	}
	client, err := dial()
	if err != nil {
		return err
	}
	if err := send(client, message()); err != nil {
		return err
	}
	start, cpu := time.Now(), cpuTime()
	sent := 0
	for sent < count && time.Since(start) < limit {
		if err := send(client, message()); err != nil {
			return err
		}
		sent++
	}
	elapsed, used := time.Since(start), cpuTime()-cpu
	if err := client.Quit(); err != nil {
		return err
	}
	report(sent, elapsed, used)
	return nil
}

// send is what a net/smtp user writes: MAIL, RCPT, DATA, each waiting for its reply.
func send(client *smtp.Client, message []byte) error {
	if err := client.Mail(from); err != nil {
		return err
	}
	if err := client.Rcpt(to); err != nil {
		return err
	}
	data, err := client.Data()
	if err != nil {
		return err
	}
	if _, err := data.Write(message); err != nil {
		return err
	}
	return data.Close()
}

// built counts the messages build made, for unique Message-IDs.
var built int

// build makes the builder case's message as the other clients do: a short text part and
// the file as a base64 attachment (76-character lines), in multipart/mixed.
func build(file []byte) []byte {
	var body bytes.Buffer
	parts := multipart.NewWriter(&body)
	text, _ := parts.CreatePart(textproto.MIMEHeader{
		"Content-Type": {"text/plain; charset=utf-8"},
	})
	io.WriteString(text, "The attachment is attached.\r\n")
	attachment, _ := parts.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"application/octet-stream"},
		"Content-Disposition":       {`attachment; filename="report.bin"`},
		"Content-Transfer-Encoding": {"base64"},
	})
	encoded := make([]byte, base64.StdEncoding.EncodedLen(len(file)))
	base64.StdEncoding.Encode(encoded, file)
	for len(encoded) > 76 {
		attachment.Write(encoded[:76])
		io.WriteString(attachment, "\r\n")
		encoded = encoded[76:]
	}
	attachment.Write(encoded)
	io.WriteString(attachment, "\r\n")
	parts.Close()

	// Date and Message-ID as lettre's, mail-send's and smtpwire's builders add them.
	built++
	var message bytes.Buffer
	fmt.Fprintf(&message, "From: <%s>\r\nTo: <%s>\r\nSubject: throughput, builder per message\r\n", from, to)
	fmt.Fprintf(&message, "Date: %s\r\nMessage-ID: <%d.%d@localhost>\r\n", time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), built)
	fmt.Fprintf(&message, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n", parts.Boundary())
	message.Write(body.Bytes())
	return message.Bytes()
}

func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		panic(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

func report(sent int, elapsed, cpu time.Duration) {
	fmt.Printf("sent=%d elapsed_ns=%d cpu_ns=%d\n", sent, elapsed.Nanoseconds(), cpu.Nanoseconds())
}
