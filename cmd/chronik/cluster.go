package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// newClusterCommand is `chronik cluster`: inspect and change the metadata
// quorum of a running cluster through any broker's HTTP admin port.
func newClusterCommand() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "inspect and change a running cluster's metadata quorum (through a broker's HTTP port)",
	}
	cmd.PersistentFlags().StringVar(&target, "broker", "", "HTTP address (host:port) of any broker; default: this config's --http")
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the change to commit")

	addr := func(cmd *cobra.Command) (string, error) {
		if target != "" {
			return target, nil
		}
		c, err := loadConfig(cmd.Root().PersistentFlags())
		if err != nil {
			return "", err
		}
		if c.HTTP == "" {
			return "", fmt.Errorf("cluster: no --broker given and --http is off")
		}
		return c.HTTP, nil
	}
	var call adminCall = func(cmd *cobra.Command, method, path string, body any, out any) error {
		a, err := addr(cmd)
		if err != nil {
			return err
		}
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			rd = bytes.NewReader(b)
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, "http://"+a+path, rd)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("cluster: broker %s: %w", a, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			var e struct{ Error string }
			if json.Unmarshal(data, &e) == nil && e.Error != "" {
				return fmt.Errorf("cluster: %s (HTTP %d)", e.Error, resp.StatusCode)
			}
			return fmt.Errorf("cluster: broker %s answered HTTP %d: %s", a, resp.StatusCode, strings.TrimSpace(string(data)))
		}
		if out != nil {
			return json.Unmarshal(data, out)
		}
		return nil
	}

	members := &cobra.Command{
		Use:   "members",
		Short: "list the metadata backend's members as the broker's node sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var info metadata.Info
			if err := call(cmd, http.MethodGet, "/v1/metadata", nil, &info); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "backend %s %s, node %s, leader %q\n", info.Name, info.Version, info.NodeID, info.Leader)
			fmt.Fprintln(tw, "ID\tADDRESS\tROLE\tLEADER")
			for _, m := range info.Members {
				role := "non-voter"
				if m.Voter {
					role = "voter"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", m.ID, m.Address, role, m.Leader)
			}
			return tw.Flush()
		},
	}
	add := func(use, short string, voter bool) *cobra.Command {
		var id, address string
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if id == "" || address == "" {
					return fmt.Errorf("cluster %s: --id and --address are required", use)
				}
				if err := call(cmd, http.MethodPost, "/v1/metadata/members", metadata.Member{ID: id, Address: address, Voter: voter}, nil); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s) as a %s\n", id, address, map[bool]string{true: "voter", false: "non-voter"}[voter])
				return err
			},
		}
		c.Flags().StringVar(&id, "id", "", "node id (the broker id of the node)")
		c.Flags().StringVar(&address, "address", "", "the node's metadata address (its --metadata.address)")
		return c
	}
	var rmID string
	remove := &cobra.Command{
		Use:   "remove-member",
		Short: "remove a node from the metadata quorum",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rmID == "" {
				return fmt.Errorf("cluster remove-member: --id is required")
			}
			if err := call(cmd, http.MethodDelete, "/v1/metadata/members/"+rmID, nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", rmID)
			return err
		},
	}
	remove.Flags().StringVar(&rmID, "id", "", "node id to remove")
	cmd.AddCommand(newClusterStatusCommand(call), members,
		add("add-voter", "add a node to the metadata quorum as a voter (it must run with --metadata.set raft.bootstrap=false)", true),
		add("add-nonvoter", "add a node that replicates the metadata but does not vote", false),
		remove)
	return cmd
}

// adminCall does one request to a broker's HTTP admin API and decodes the
// JSON answer into out (when not nil).
type adminCall func(cmd *cobra.Command, method, path string, body any, out any) error

// newClusterStatusCommand is `chronik cluster status`: the cluster as one
// broker's metadata image shows it. It fails (exit status 1) when that
// broker cannot be reached or has no image yet; a fenced broker or an
// offline partition is reported, not an error.
func newClusterStatusCommand(call adminCall) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "brokers with their state and epochs, the controller, and partitions without a live leader",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st broker.ClusterStatus
			if err := call(cmd, http.MethodGet, "/v1/cluster", nil, &st); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printClusterStatus(cmd.OutOrStdout(), st)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return c
}

// printClusterStatus writes st as tables.
func printClusterStatus(w io.Writer, st broker.ClusterStatus) error {
	live := 0
	for _, b := range st.Brokers {
		if b.State == broker.BrokerLive {
			live++
		}
	}
	ready := "ready"
	if !st.Ready {
		ready = "NOT ready"
	}
	fmt.Fprintf(w, "as seen by broker %d (%s) at metadata revision %d\n", st.BrokerID, ready, st.Revision)
	fmt.Fprintf(w, "brokers: %d live of %d registered, controller %d\n", live, len(st.Brokers), st.ControllerID)
	fmt.Fprintf(w, "topics: %d, partitions: %d, without a live leader: %d, being reassigned: %d\n\n", st.Topics, st.Partitions, len(st.Offline), len(st.Reassigning))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tSTATE\tEPOCH\tADDRESS\tRACK\tCONTROLLER")
	for _, b := range st.Brokers {
		var addrs []string
		for _, l := range b.Listeners {
			addrs = append(addrs, l.Address)
		}
		rack := b.Rack
		if rack == "" {
			rack = "-"
		}
		ctl := ""
		if b.ID == st.ControllerID {
			ctl = "*"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.State, b.Epoch, strings.Join(addrs, ","), rack, ctl)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Offline) > 0 {
		fmt.Fprintln(w, "\npartitions without a live leader (LEADER_NOT_AVAILABLE):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tLEADER EPOCH\tREPLICAS\tISR\tADDING\tREMOVING")
		for _, p := range st.Offline {
			leader := fmt.Sprint(p.Leader)
			if p.Leader < 0 {
				leader = "none"
			} else {
				leader += " (not live)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%v\t%v\t%s\t%s\n", p.Topic, p.Partition, leader, p.LeaderEpoch, p.Replicas, p.ISR,
				idsOrDash(p.Adding), idsOrDash(p.Removing))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Reassigning) > 0 {
		fmt.Fprintln(w, "\npartitions being reassigned:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tADDING\tREMOVING")
		for _, p := range st.Reassigning {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%v\t%v\t%s\t%s\n", p.Topic, p.Partition, p.Leader, p.Replicas, p.ISR,
				idsOrDash(p.Adding), idsOrDash(p.Removing))
		}
		return tw.Flush()
	}
	return nil
}

// idsOrDash renders a list of broker ids, "-" when empty.
func idsOrDash(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	return fmt.Sprint(ids)
}
